package engine

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/andybalholm/brotli"
	_ "github.com/dop251/goja"
	_ "github.com/evanw/esbuild/pkg/api"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/klauspost/compress/gzip"
	_ "golang.org/x/sys/unix"
	_ "github.com/chromedp/chromedp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/common/expfmt"
)
