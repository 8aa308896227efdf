// Package schedule runs the bridge's periodic work (reminders, automatic
// re-sends, retries) on a cron schedule with robfig/cron. A run that is still
// going when the next one is due is skipped, a panic in a run is recovered and
// logged, and Run waits for a running job before it returns.
package schedule
