"""English messages for step actions. Keys and {placeholders} match actions_ko.py.

Results are plain text (the renderer escapes them): no HTML here.
"""

MESSAGES: dict[str, str] = {
    "action.unknown": "unknown action {name}",
    "action.planned": "{name} is not built yet (the recovery actions come in a later release): do this step by hand, then press Done",
    "action.needs_topic": "{name} needs the incident's topic, and this incident has none",
    "action.timed_out": "{name} gave no answer within {seconds} s",
    "action.crashed": "{name} failed unexpectedly; see the bot's log",
    "act.script.ok": "{name}: the team's script finished (exit 0)",
    "act.script.failed": "{name}: the team's script failed (exit {code})",
    "act.script.timed_out": "{name}: the team's script did not finish in time and was stopped",
    "act.in_document": "The full text is in the attached file {filename}.",
    # health.check
    "act.state.ok": "ok",
    "act.state.degraded": "degraded",
    "act.state.down": "down",
    "act.health.summary": "Health: {ok} ok, {degraded} degraded, {down} down",
    "act.health.line": "{component}: {state} — {reason}",
    # token.*
    "act.token.expires": "Expires: {date} ({left})",
    "act.token.source": "Source: {source}",
    "act.token.registered": "Registered expiry: {date} (by {actor})",
    "act.token.expiry_set": "Token expiry registered: {days} days, until {date}",
    # stats.freshness
    "act.stats.file": "File: {file}",
    "act.stats.last_updated": "last_updated: {at} ({age} h ago)",
    "act.stats.updated": "updated {at}",
    # cloudinary.usage
    "act.cloudinary.summary": "Cloudinary plan {plan}: {pct}% of the credits used",
    "act.cloudinary.credits": "Credits: {used} of {limit}",
    "act.cloudinary.no_usage": "Cloudinary plan {plan}: no credit figures",
    "act.cloudinary.failed": "Cloudinary usage could not be read: {reason}",
    # instagram.quota
    "act.quota.summary": "Publishing quota: {used}/{total} in {hours} h ({pct}%)",
    "act.quota.failed": "The publishing quota could not be read: {reason}",
    # telegram.test_message
    "act.telegram.text": "🧪 SunFlow Ops test message for {ref}: if you can read this, notifications reach this chat.",
    "act.telegram.sent": "Test message delivered (message id {message_id})",
    "act.telegram.failed": "Test message not delivered: {reason}",
    "act.needs.instagram": "Instagram is not configured or its settings are wrong (sunflow-ops health says why)",
    "act.needs.images": "Cloudinary is not configured or its settings are wrong (sunflow-ops health says why)",
    "act.needs.chat": "Telegram is not configured (TELEGRAM_BOT_TOKEN is not set)",
    "act.telegram.no_chat": "No ops chat to send to (OPS_CHAT_ID is not set)",
    # traces.list
    "act.traces.summary": "{shown:#recent trace|recent traces}, {errors} with errors ({imported:#trace file|trace files} imported)",
    "act.traces.none": "No traces on record (no SF-*.json in config/logs/traces)",
    "act.traces.unreadable": "{file}: not imported ({problem})",
    "act.traces.caption": "Recent traces",
    # logs.*
    "act.logs.refused": "Refused file pattern {pattern}: only names inside config/logs (no / or ..)",
    "act.logs.no_files": "No log file matches {pattern} in config/logs",
    "act.logs.unreadable": "{file}: cannot be read ({problem})",
    "act.logs.tail_summary": "Last {lines:#line|lines} of {files:#log file|log files} ({pattern}): {errors:#ERROR/CRITICAL line|ERROR/CRITICAL lines}",
    "act.logs.tail_caption": "Log tail ({pattern})",
    "act.logs.latest_errors": "Latest ERROR lines:",
    "act.logs.last_lines": "Last lines of {file}:",
    "act.logs.no_pattern": "logs.grep needs a pattern: the text to look for",
    "act.logs.grep_none": "No line contains “{text}” in {pattern}",
    "act.logs.grep_summary": "“{text}”: {matches:#matching line|matching lines} in {files:#file|files} ({pattern})",
    "act.logs.grep_file": "{file}: {count}",
    "act.logs.grep_last": "Last {count:#match|matches}:",
    "act.logs.grep_caption": "Lines containing “{text}”",
    "act.logs.nothing": "Nothing to collect: no *_stderr.log and no SF-*.json under config/logs",
    "act.logs.collected": "Collected the last {lines:#line|lines} of {logs:#log|logs} and {traces:#trace|traces}: {filename} ({size})",
    "act.logs.bundle_logs": "error_{day}.log: {files}",
    "act.logs.bundle_traces": "Traces: {ids}",
    "act.logs.bundle_caption": "Logs and traces ({filename})",
    # images.local
    "act.images.refused": "Refused topic “{topic}”: a topic is one folder name under content/images",
    "act.images.missing": "{path} does not exist",
    "act.images.empty": "{path} holds no files",
    "act.images.summary": "{path}: {count:#file|files}, newest from {newest}",
    "act.images.more": "… and {count} more",
}
