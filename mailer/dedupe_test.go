package mailer_test

import (
	"testing"

	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/dedupetest"
)

func TestMemoryDeduperContract(t *testing.T) {
	dedupetest.Run(t, func(*testing.T) mailer.Deduper { return mailer.NewMemory() })
}
