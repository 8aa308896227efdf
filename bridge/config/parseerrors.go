package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// problem is one thing wrong with the configuration, for the variable it
// names.
type problem struct {
	variable string
	err      error
}

// envProblems turns the error of env.ParseWithOptions into one problem per
// variable. A value that cannot be read as its type is reported as
// "VARIABLE: expected …, not "value"" rather than with env's own message,
// which names the Go field and quotes the whole value.
func envProblems(err error, environ map[string]string) []problem {
	var agg env.AggregateError
	errs := []error{err}
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	problems := make([]problem, 0, len(errs))
	for _, e := range errs {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, problem{err: e})
			continue
		}
		variable := variableOf(pe.Name)
		value := "the value"
		if _, isSecret := secretFiles[variable]; !isSecret {
			value = quote(environ[variable])
		}
		problems = append(problems, problem{variable, fmt.Errorf("%s: expected %s, not %s", variable, expected(pe), value)})
	}
	return problems
}

// variableOf returns the variable Config's field reads.
func variableOf(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// expected describes the values a field of Config's type takes.
func expected(pe env.ParseError) string {
	switch {
	case pe.Type == reflect.TypeFor[time.Duration]():
		return "a duration such as 30s, 10m, 48h or 1h30m"
	case pe.Type == reflect.TypeFor[DurationOrOff]():
		return "a duration such as 12h or 1h30m, or off"
	case pe.Type.Kind() == reflect.Bool:
		return "true or false"
	case pe.Type.Kind() >= reflect.Int && pe.Type.Kind() <= reflect.Uint64:
		if errors.Is(pe.Err, strconv.ErrRange) {
			return "a smaller whole number"
		}
		return "a whole number"
	}
	return "a " + pe.Type.String()
}
