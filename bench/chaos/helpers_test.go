package main

import "github.com/exchange/internal-transfer/bench/load"

func loadResult(acceptedPerS float64) *load.Result {
	return &load.Result{AcceptedPerS: acceptedPerS, Counts: map[string]int64{"accepted": 1}}
}
