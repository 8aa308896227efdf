// Package config reads the daemon's configuration from the environment with
// caarlos0/env. The variable names are a contract: the add-on maps its options
// onto them, and the README and DOCS.md document each one. Every secret also
// has a *_FILE variant whose file content (trailing newline trimmed) wins.
// Parse reports every problem at once, before the daemon opens anything: one
// line per problem, naming the variable, with URLs passed through RedactURL
// and secrets never shown. CheckMQTTURL, CheckSMTPURL,
// CheckReminderSchedule, CheckKeypadEmailBefore and CheckKeypadCleanupAfter
// are the same rules for the add-on's options.
package config
