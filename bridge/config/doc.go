// Package config reads the daemon's configuration from the environment with
// caarlos0/env. The variable names are a contract: the add-on maps its options
// onto them, and the README and DOCS.md document each one. Every secret also
// has a *_FILE variant whose file content (trailing newline trimmed) wins.
// Parse reports every problem at once.
package config
