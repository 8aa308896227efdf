# Nuki Invites add-on image.
#
# Build stage: the same .ci/build script CI runs makes a static, stripped Go
# binary. It runs on the machine that builds (--platform=$BUILDPLATFORM) and
# cross-compiles for the image's platform (GOARCH=$TARGETARCH): an aarch64
# image builds at native speed on amd64 instead of under emulation, and the
# final stage runs no command, so it needs no emulation either. The classic
# builder sets neither argument: the stage then runs on, and builds for, the
# platform of the image, as before.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build

ARG TARGETOS
ARG TARGETARCH
ARG BUILD_ARCH=amd64
ARG BUILD_VERSION=0.1.0

# Home Assistant names architectures its own way (aarch64 is Docker's
# linux/arm64). A label that disagrees with the binary inside would make the
# Supervisor run it on the wrong machine, so such a build stops here.
RUN case "${BUILD_ARCH}:${TARGETARCH}" in \
      amd64:amd64|aarch64:arm64|*:) ;; \
      *) echo "BUILD_ARCH=${BUILD_ARCH} does not match the platform's ${TARGETARCH}: build with --platform linux/arm64 --build-arg BUILD_ARCH=aarch64, or --platform linux/amd64 --build-arg BUILD_ARCH=amd64" >&2; exit 1 ;; \
    esac

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH}" VERSION="${BUILD_VERSION}" OUT=/rootfs/nuki-invites .ci/build \
 && test -f /usr/share/zoneinfo/Europe/Berlin \
 && mkdir -p /rootfs/etc/ssl/certs /rootfs/usr/share /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && cp -r /usr/share/zoneinfo /rootfs/usr/share/zoneinfo

# Final stage: nothing but the binary, the CA certificates for Nuki Web and
# SMTP over TLS, the time zone database (where Go looks up the TZ the
# Supervisor sets, so e-mails show Home Assistant's local time) and /tmp.
# scratch has no version to drift and no shell or package manager to attack.
# The binary runs as root: the Supervisor mounts /data (database,
# options.json) owned by root.
FROM scratch

ARG BUILD_ARCH=amd64
ARG BUILD_VERSION=0.1.0

LABEL \
    io.hass.name="Nuki Invites" \
    io.hass.description="Track, remind and re-send Nuki app invitations" \
    io.hass.version="${BUILD_VERSION}" \
    io.hass.type="app" \
    io.hass.arch="${BUILD_ARCH}" \
    org.opencontainers.image.title="Nuki Invites" \
    org.opencontainers.image.version="${BUILD_VERSION}" \
    org.opencontainers.image.source="https://github.com/nuki-invites/nuki-invites"

COPY --from=build /rootfs/ /

# Ingress port (config.yaml keeps the default ingress_port 8099).
EXPOSE 8099

# No curl in the image: the binary checks itself with a GET on
# http://127.0.0.1:8099/healthz and exits 0 (healthy) or 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/nuki-invites", "healthcheck"]

# Exec form: the binary gets SIGTERM from the Supervisor on stop. With the
# default init (config.yaml leaves `init` at true) Docker's tiny init runs as
# PID 1, forwards the signal and reaps; there is no s6 here to conflict with.
ENTRYPOINT ["/nuki-invites"]
CMD ["addon"]
