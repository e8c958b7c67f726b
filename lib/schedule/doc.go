// Package schedule owns terok's scheduled headless runs (terok-task
// schedule): a schedule's definition (CONFIG/schedules/NAME.toml), the
// systemd OnCalendar expressions it runs on (parsed here, without systemd,
// and turned into a crontab line where cron can say the same), the systemd
// service and timer generated from a definition, the lock that keeps a
// schedule's runs from overlapping, the record of its runs
// (STATE/schedules/NAME.json) and which of its tasks --keep lets go.
//
// Running a task is lib/task's; the command (cmd/terok-task) wires the two.
package schedule
