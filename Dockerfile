# Two images from one build: `--target registrar` and `--target mailer`.
# Pure Go (no cgo), so the runtime image is distroless with no shell.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY protos/go.mod protos/go.sum ./protos/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/registrar ./cmd/registrar && \
    CGO_ENABLED=0 go build -trimpath -o /out/mailer ./cmd/mailer

FROM gcr.io/distroless/static-debian12:nonroot AS registrar
COPY --from=build /out/registrar /registrar
EXPOSE 8080
HEALTHCHECK CMD ["/registrar", "healthcheck"]
ENTRYPOINT ["/registrar"]

FROM gcr.io/distroless/static-debian12:nonroot AS mailer
COPY --from=build /out/mailer /mailer
EXPOSE 8081
HEALTHCHECK CMD ["/mailer", "healthcheck"]
ENTRYPOINT ["/mailer"]
