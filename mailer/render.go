package mailer

import (
	"bytes"
	"fmt"
	"html/template"
	"time"
)

// Email is one rendered email.
type Email struct {
	ID      string // the message id it was made from, for logs and dedupe
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
}

// Render builds the verification email for code. The subject carries the
// code as a standalone token, so mail clients can offer to copy it; both parts
// say when it expires.
func Render(id, from, to, code string, expiresAt, now time.Time) (Email, error) {
	expiresAt = expiresAt.UTC()
	left := int(max(expiresAt.Sub(now).Round(time.Second), 0) / time.Second)
	data := struct {
		Code, Expires, Left string
	}{code, expiresAt.Format("15:04:05 MST on 2 January 2006"), fmt.Sprintf("%d seconds", left)}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, data); err != nil {
		return Email{}, fmt.Errorf("render text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, data); err != nil {
		return Email{}, fmt.Errorf("render html: %w", err)
	}
	return Email{
		ID:      id,
		From:    from,
		To:      to,
		Subject: code + " is your verification code",
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

// The text part is rendered with html/template too: the values are digits
// and times, and one engine is one less thing to get wrong.
var textTemplate = template.Must(template.New("text").Parse(`Your verification code is {{.Code}}.

Enter it within {{.Left}}: it expires at {{.Expires}}.
If it has expired, ask for a new one.

If you did not try to create an account, you can ignore this email.
`))

var htmlTemplate = template.Must(template.New("html").Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<p>Your verification code is</p>
<p style="font-size: 2em; font-weight: bold; letter-spacing: 0.2em">{{.Code}}</p>
<p>Enter it within {{.Left}}: it expires at {{.Expires}}. If it has expired, ask for a new one.</p>
<p style="color: #666">If you did not try to create an account, you can ignore this email.</p>
</body></html>
`))
