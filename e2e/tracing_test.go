package e2e_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver: what a collector is to the
// binaries.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service, name         string
	traceID, id, parentID string
}

func startReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(req.Body)
		var export collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &export)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					r.spans = append(r.spans, receivedSpan{service: service, name: s.GetName(),
						traceID: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()), parentID: hex.EncodeToString(s.GetParentSpanId())})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) find(service, name string) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, s := range r.spans {
		if s.service == service && s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestStackOneTraceFromRequestToSMTP: with OTEL_EXPORTER_OTLP_ENDPOINT set,
// one registration on the full stack is one trace across bin/registrar and
// bin/mailer, from the HTTP request to the SMTP server's accept; the trace
// context crosses the outbox and Kafka (ce_traceparent).
func TestStackOneTraceFromRequestToSMTP(t *testing.T) {
	receiver := startReceiver(t)
	s := newStack(t, stackOptions{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + receiver.URL, "OTEL_BSP_SCHEDULE_DELAY=100"}})
	r := register(t, s.registrar, "ann@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	waitCode(t, s.smtp, "ann@example.com", 1)

	// Each binary exports on its own schedule: the mailer's spans can arrive
	// before the registrar's publish span, so wait for every span named here.
	var request, handle, send receivedSpan
	var publish []receivedSpan // named by the topic before KAFKA_TOPIC_PREFIX
	waitUntil(t, "the spans of both binaries, the mailer's handling a child of a registrar publish", 30*time.Second, func() bool {
		reqs, handles, sends := receiver.find("registrar", "POST /v1/users"), receiver.find("mailer", "mailer.handle"), receiver.find("mailer", "smtp.send")
		if len(reqs) == 0 || len(handles) == 0 || len(sends) == 0 {
			return false
		}
		request, handle, send = reqs[0], handles[0], sends[0]
		publish = publish[:0]
		for _, p := range receiver.find("registrar", "publish registration.mail.v1") {
			if p.id == handle.parentID {
				publish = append(publish, p)
			}
		}
		return len(publish) > 0
	})
	assert.Equal(t, request.traceID, handle.traceID, "the mailer's handling is in the request's trace")
	assert.Equal(t, request.traceID, send.traceID, "so is the SMTP send")
	assert.Equal(t, handle.id, send.parentID)
	require.Len(t, publish, 1, "the mailer's span is a child of one registrar publish, across Kafka")
	assert.Equal(t, request.traceID, publish[0].traceID)
}
