package daemon_test

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acme/registrar/internal/daemon"
)

type sample struct {
	Addr   string `env:"SAMPLE_ADDR" envDefault:":9999"`
	Nested struct {
		Level string `env:"SAMPLE_LEVEL" envDefault:"info"`
	}
	Key string `env:"SAMPLE_KEY"`
}

func TestCommandLine(t *testing.T) {
	ran := false
	b := daemon.Binary{
		Name: "sample", Summary: "a sample binary", AddrVar: "SAMPLE_ADDR", DefaultAddr: "127.0.0.1:1",
		Config: reflect.TypeFor[sample](),
		Run:    func(context.Context, []string, io.Writer, io.Writer) error { ran = true; return nil },
	}
	main := func(args ...string) (int, string, string) {
		var out, errs strings.Builder
		code := b.Main(context.Background(), args, []string{"SAMPLE_ADDR=127.0.0.1:1"}, &out, &errs)
		return code, out.String(), errs.String()
	}

	for _, help := range []string{"--help", "-h", "help"} {
		code, out, _ := main(help)
		assert.Equal(t, 0, code, help)
		assert.Contains(t, out, "sample: a sample binary", help)
		assert.Contains(t, out, "healthcheck", help)
		assert.Regexp(t, `SAMPLE_ADDR\s+:9999`, out, help)
		assert.Regexp(t, `SAMPLE_LEVEL\s+info`, out, "nested structs too")
		assert.Regexp(t, `SAMPLE_KEY\s+empty`, out, help)
	}
	assert.False(t, ran, "--help does not serve")

	code, out, _ := main("version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "sample "), out)
	assert.Contains(t, out, "go1.")

	code, _, errs := main("--bogus")
	assert.Equal(t, 2, code)
	assert.Equal(t, `sample: unknown argument "--bogus" (see sample --help)`+"\n", errs, "one line")
	code, _, _ = main("version", "extra")
	assert.Equal(t, 2, code)
	assert.False(t, ran)

	code, _, errs = main("healthcheck")
	assert.Equal(t, 1, code, "nothing answers on the address")
	assert.NotEmpty(t, errs)

	code, _, _ = main()
	assert.Equal(t, 0, code)
	assert.True(t, ran, "no argument serves")
}
