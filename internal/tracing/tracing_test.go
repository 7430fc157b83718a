package tracing

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChooseExporter(t *testing.T) {
	for name, tc := range map[string]struct {
		env  []string
		want string
		err  bool
	}{
		"nothing set: off":                     {},
		"an endpoint: otlp":                    {env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318"}, want: "otlp"},
		"a traces endpoint: otlp":              {env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://collector:4318/v1/traces"}, want: "otlp"},
		"the exporter named":                   {env: []string{"OTEL_TRACES_EXPORTER=otlp"}, want: "otlp"},
		"console":                              {env: []string{"OTEL_TRACES_EXPORTER=console"}, want: "console"},
		"none wins over an endpoint":           {env: []string{"OTEL_TRACES_EXPORTER=none", "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318"}},
		"the SDK disabled wins over all":       {env: []string{"OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=otlp"}},
		"an exporter this binary lacks":        {env: []string{"OTEL_TRACES_EXPORTER=zipkin"}, err: true},
		"only metrics or logs configured":      {env: []string{"OTEL_METRICS_EXPORTER=otlp", "OTEL_SERVICE_NAME=x"}},
		"OTEL_SDK_DISABLED=false leaves it on": {env: []string{"OTEL_SDK_DISABLED=false", "OTEL_TRACES_EXPORTER=console"}, want: "console"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := chooseExporter(lookup(tc.env))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestProtocol(t *testing.T) {
	assert.Equal(t, "http/protobuf", protocol(lookup(nil)), "the specification's default")
	assert.Equal(t, "grpc", protocol(lookup([]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"})))
	assert.Equal(t, "http/protobuf", protocol(lookup([]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf"})))
}

func TestSetupOffInstallsNothing(t *testing.T) {
	shutdown, err := Setup(context.Background(), "registrar", nil, nil)
	require.NoError(t, err)
	require.NoError(t, shutdown(context.Background()))
}

func TestSetupRefusesAnUnknownProtocol(t *testing.T) {
	_, err := Setup(context.Background(), "registrar", []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, nil)
	assert.ErrorContains(t, err, "OTEL_EXPORTER_OTLP_PROTOCOL")
}
