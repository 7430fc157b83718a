package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/common/expfmt"

	"github.com/acme/registrar/internal/ops"
)

// Status is the body of /healthz and of a ready /readyz.
type Status struct {
	Status string            `json:"status" enum:"ok,ready"`
	Checks map[string]string `json:"checks,omitempty" doc:"Outcome of each dependency check"`
}

type statusOutput struct{ Body Status }

// metricsFormat is the exposition format of /metrics, as served and as
// documented.
var metricsFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

type metricsOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

func (s *Server) registerOpsRoutes(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness: 200 while the process runs",
		Tags:        []string{"operations"},
	}, func(context.Context, *struct{}) (*statusOutput, error) {
		return &statusOutput{Body: Status{Status: "ok"}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness: 200 when the database (and Kafka, when configured) answer, else 503",
		Description: "Every check's outcome is in the answer. `exclude` names checks that are run and reported but do not fail readiness.",
		Tags:        []string{"operations"},
		Errors:      []int{400, 503},
	}, s.ready)
	huma.Register(api, huma.Operation{
		OperationID: "metrics",
		Method:      http.MethodGet,
		Path:        "/metrics",
		Summary:     "Prometheus metrics in the text exposition format",
		Tags:        []string{"operations"},
		Responses: map[string]*huma.Response{"200": {
			Description: "Metrics",
			Content:     map[string]*huma.MediaType{string(metricsFormat): {Schema: &huma.Schema{Type: "string"}}},
		}},
	}, s.metricsPage)
}

type readyInput struct {
	Exclude []string `query:"exclude" doc:"Checks that may fail without failing readiness (repeated or comma-separated), e.g. exclude=kafka: the outbox holds what Kafka cannot take, so a load balancer need not drop the registrar while Kafka is down. They are still run and reported."`
}

func (s *Server) ready(ctx context.Context, in *readyInput) (*statusOutput, error) {
	results, failing, err := ops.Readiness(ctx, s.log, s.cfg.Ready, in.Exclude)
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, "malformed_request", err.Error()+".")
	}
	if len(failing) > 0 {
		return nil, newProblem(http.StatusServiceUnavailable, "unavailable", ops.NotReadyDetail(failing)).retryAfter(time.Second)
	}
	return &statusOutput{Body: Status{Status: "ready", Checks: results}}, nil
}

func (s *Server) metricsPage(context.Context, *struct{}) (*metricsOutput, error) {
	families, err := s.cfg.Metrics.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, metricsFormat)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("encode metrics: %w", err)
		}
	}
	return &metricsOutput{ContentType: string(metricsFormat), Body: buf.Bytes()}, nil
}
