//go:build tools

// Package main's tools file: never built (the tag is never set). It names the packages of
// kube-router v2.1.0's other controllers (routing, service proxy, CRI, AWS) that main.go does
// not link, so that `go mod tidy` keeps their modules at the raised versions in go.mod: the
// module graph then carries none of v2.1.0's vulnerable versions, though the binary contains
// none of this code (`go version -m $STOREFLEET_CACHE/bin/kube-router` lists what it does).
package main

import (
	_ "github.com/aws/aws-sdk-go/aws"
	_ "github.com/docker/docker/client"
	_ "github.com/osrg/gobgp/v3/pkg/server"
	_ "golang.org/x/crypto/ssh"
	_ "google.golang.org/grpc"
)
