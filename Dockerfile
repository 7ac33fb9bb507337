# netlab in a container image, for CI jobs that run labs (docs/ci.md).
#
#   docker build -t netlab .
#   docker run --rm --privileged --network host --tmpfs /run \
#     -v "$PWD:/work" netlab run labs/veth-pair.yaml --out /work/out
#
# netlab needs CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_NET_RAW, a writable
# /proc/sys and mount(2) (AppArmor's docker-default profile denies both):
# --privileged gives all of that; docs/ci.md lists the narrower options and
# why each one is needed. --tmpfs /run gives the container its own
# /run/netns and /run/netlab; --network host is needed only for labs with
# host knobs (net.ipv4.neigh.default.* exist only in the host's network
# namespace).

# Build: a static binary (netlab uses no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/netlab ./cmd/netlab

# Run: Debian 12 with the tools lab scenarios' exec steps commonly call
# (ip, ping, nft). netlab itself runs no external program.
FROM debian:bookworm-slim
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		iproute2 iputils-ping nftables \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /out/netlab /usr/local/bin/netlab
# The bundled labs, found by NAME (netlab run veth-pair) through NETLAB_PATH.
COPY labs /usr/share/netlab/labs
ENV NETLAB_PATH=/usr/share/netlab/labs
WORKDIR /work
ENTRYPOINT ["netlab"]
CMD ["--help"]
