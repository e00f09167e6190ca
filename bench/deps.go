//go:build tools

// Package bench pins the modules the project builds on until code imports them.
package bench

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/VictoriaMetrics/metrics"
	_ "github.com/asynkron/protoactor-go/actor"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/scylladb/gocqlx/v2"
	_ "github.com/tigerbeetle/tigerbeetle-go"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/valyala/fasthttp"
	_ "gopkg.in/yaml.v3"
)
