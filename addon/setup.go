package addon

import (
	"context"
	"net/url"
)

// ingressLink is how Home Assistant links to an add-on's ingress page; the
// installed slug follows.
const ingressLink = "homeassistant://hassio/ingress/"

// Setup is what the add-on's entry point hands the daemon.
type Setup struct {
	// Env is the environment for bridge/config.Parse, as Environment
	// returns it. It holds secrets in clear; the caller owns it.
	Env map[string]string
	// ConfigurationURL is where a Home Assistant device page links to for
	// configuring the device: the add-on's own page,
	// homeassistant://hassio/ingress/<slug>. It is empty when the
	// Supervisor did not say the slug; devices then have no link.
	ConfigurationURL string
}

// Prepare runs Environment, then asks the Supervisor for the add-on's
// installed slug to make Setup.ConfigurationURL. That question never fails
// the start: without a Supervisor token, or when the Supervisor does not
// answer as expected, Prepare logs a warning and leaves the link empty. Its
// errors are those of Environment.
func Prepare(ctx context.Context, o Options) (Setup, error) {
	env, err := Environment(ctx, o)
	if err != nil {
		return Setup{}, err
	}
	return Setup{Env: env, ConfigurationURL: newEnvironment(o).configurationURL(ctx)}, nil
}

// configurationURL returns the link to the add-on's ingress page, or "".
func (e *environment) configurationURL(ctx context.Context) string {
	if e.opts.SupervisorToken.IsZero() {
		e.log.Warn("SUPERVISOR_TOKEN is not set, so the add-on's slug is unknown: Home Assistant's device pages get no link to the add-on page")
		return ""
	}
	slug, err := e.askSlug(ctx)
	if err != nil {
		e.log.Warn("Home Assistant's device pages get no link to the add-on page", "reason", err.Error())
		return ""
	}
	link := ingressLink + url.PathEscape(slug)
	e.log.Info("device pages link to the add-on page", "url", link)
	return link
}
