package composecheck_test

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestComposeFile loads docker-compose.yml with the Compose specification's
// own loader: no Docker engine runs here, but a broken file still fails.
func TestComposeFile(t *testing.T) {
	project := loadCompose(t, []string{"CODE_HMAC_KEY=" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"})

	for _, name := range []string{"postgres", "kafka", "mailpit", "registrar-1", "registrar-2", "registrar-3", "mailer"} {
		svc, err := project.GetService(name)
		require.NoError(t, err, "service %s", name)
		require.NotNil(t, svc.HealthCheck, "%s has a health check", name)
		assert.NotEmpty(t, svc.HealthCheck.Test, name)
	}

	registrar, _ := project.GetService("registrar-1")
	addrs := map[string]bool{}
	for _, name := range []string{"registrar-1", "registrar-2", "registrar-3"} {
		r, _ := project.GetService(name)
		assert.Equal(t, types.ServiceConditionHealthy, r.DependsOn["postgres"].Condition, name)
		assert.Equal(t, types.ServiceConditionHealthy, r.DependsOn["kafka"].Condition, name)
		assert.Equal(t, "kafka:9092", *r.Environment["KAFKA_BROKERS"], name)
		assert.Regexp(t, `^postgres://`, *r.Environment["DATABASE_URL"], name)
		assert.Equal(t, "automanaged", *r.Environment["CLUSTER_PROVIDER"], name)
		assert.Equal(t, "6330", *r.Environment["CLUSTER_DISCOVERY_PORT"], name)
		peers := *r.Environment["CLUSTER_PEERS"]
		assert.Contains(t, peers, name+":6330", "%s is among its own peers", name)
		assert.Equal(t, name+":4000", *r.Environment["CLUSTER_ADDR"], "%s advertises its own address", name)
		addrs[*r.Environment["CLUSTER_ADDR"]] = true
		require.NotNil(t, r.Build, name)
		assert.Equal(t, "registrar", r.Build.Target, name)
	}
	assert.Len(t, addrs, 3, "one cluster address each")

	mailer, _ := project.GetService("mailer")
	for _, dep := range []string{"postgres", "kafka", "mailpit"} {
		assert.Equal(t, types.ServiceConditionHealthy, mailer.DependsOn[dep].Condition, "mailer waits for %s", dep)
	}
	assert.Equal(t, "smtp://mailpit:1025", *mailer.Environment["SMTP_URL"])
	assert.Equal(t, *registrar.Environment["DATABASE_URL"], *mailer.Environment["DATABASE_URL"], "one database")

	// The build targets exist in the Dockerfile.
	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	for _, svc := range []types.ServiceConfig{registrar, mailer} {
		require.NotNil(t, svc.Build)
		assert.Regexp(t, regexp.MustCompile(`(?m)^FROM .* AS `+regexp.QuoteMeta(svc.Build.Target)+`$`), string(dockerfile))
	}
}

func TestComposeFileRequiresTheCodeKey(t *testing.T) {
	_, err := composeOptions(t, nil).LoadProject(context.Background())
	require.Error(t, err, "every instance must share CODE_HMAC_KEY: compose refuses to start without it")
	assert.Contains(t, err.Error(), "CODE_HMAC_KEY")
}

func loadCompose(t *testing.T, env []string) *types.Project {
	t.Helper()
	project, err := composeOptions(t, env).LoadProject(context.Background())
	require.NoError(t, err)
	return project
}

func composeOptions(t *testing.T, env []string) *cli.ProjectOptions {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../../docker-compose.yml"}, cli.WithEnv(env), cli.WithWorkingDirectory("../.."))
	require.NoError(t, err)
	return opts
}
