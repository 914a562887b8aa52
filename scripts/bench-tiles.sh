#!/usr/bin/env bash
# Per-tile CPU stages of the detection engine, each timed alone on one core (src/test/java/io/osprey/bench/
# TileStagesBenchmark.java). Needs ../shared (models and images) or OSPREY_SHARED.
# e.g. scripts/bench-tiles.sh --rounds 5 --reps 5 [--slice 640] [--models yolox_nano] [--decode-floor]
# [--images terrain1-12mp.jpg] (a 4000x3000 photo made from terrain1, see TileStagesBenchmark#image)
exec "$(dirname "$0")/bench.sh" TileStagesBenchmark "$@"
