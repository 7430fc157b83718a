package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/acme/registrar/internal/config"
)

// codeKey returns the HMAC key of the codes: CODE_HMAC_KEY, or in embedded
// mode a key generated once and kept in a file beside the database.
func codeKey(cfg Config, log *slog.Logger) ([]byte, error) {
	if cfg.CodeHMACKey != "" {
		return config.DecodeKey(cfg.CodeHMACKey)
	}
	path := cfg.CodeHMACKeyFile
	if path == "" {
		path = filepath.Join(filepath.Dir(cfg.sqlitePath), "code_hmac.key")
	}
	if b, err := os.ReadFile(path); err == nil {
		key, err := config.DecodeKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("CODE_HMAC_KEY file %s: %w", path, err)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read CODE_HMAC_KEY file: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create CODE_HMAC_KEY file: %w", err)
	}
	// O_EXCL: if another instance wrote the key meanwhile, use its key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return codeKey(cfg, log)
	}
	if err != nil {
		return nil, fmt.Errorf("create CODE_HMAC_KEY file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write CODE_HMAC_KEY file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write CODE_HMAC_KEY file: %w", err)
	}
	log.Warn("CODE_HMAC_KEY is not set: generated a key for the codes; keep the file with the database (without it, pending codes stop matching)", "file", path)
	return key, nil
}

// warnAboutCodes states, at every start, that 4-digit codes are below the
// NIST floor and which controls compensate.
func warnAboutCodes(log *slog.Logger, cfg Config) {
	log.Warn("verification codes have 4 digits (13.3 bits of entropy), below the 20 bits of NIST SP 800-63B §5.1.3.2; compensating controls in force:",
		"guesses_per_code", cfg.CodeMaxAttempts,
		"code_ttl", cfg.CodeTTL.String(),
		"account_failure_budget", fmt.Sprintf("%d per %s", cfg.AccountFailureLimit, cfg.AccountFailureWindow),
		"resend", fmt.Sprintf("1 per %s, %d per hour", cfg.CodeResendCooldown, cfg.CodeHourlyLimit),
		"codes_stored_as", "HMAC-SHA-256, compared in constant time",
		"requests_per_ip", fmt.Sprintf("%d per minute", cfg.RateLimitPerIP),
	)
}
