"""Korean messages for step actions. Keys and {placeholders} match actions_en.py.

Results are plain text (the renderer escapes them): no HTML here.
"""

MESSAGES: dict[str, str] = {
    "action.unknown": "알 수 없는 동작 {name}",
    "action.planned": "{name}은(는) 아직 없습니다 (복구 동작은 다음 릴리스에서 제공): 이 단계는 직접 수행한 뒤 '완료'를 누르세요",
    "action.needs_topic": "{name}에는 장애의 토픽이 필요한데 이 장애에는 토픽이 없습니다",
    "action.timed_out": "{name}이(가) {seconds}초 안에 응답하지 않았습니다",
    "action.crashed": "{name} 실행 중 예상치 못한 오류가 났습니다. 봇 로그를 확인하세요",
    "act.script.ok": "{name}: 팀 스크립트 완료 (종료 코드 0)",
    "act.script.failed": "{name}: 팀 스크립트 실패 (종료 코드 {code})",
    "act.script.timed_out": "{name}: 팀 스크립트가 제한 시간 안에 끝나지 않아 중지했습니다",
    "act.in_document": "전체 내용은 첨부 파일 {filename}에 있습니다.",
    # health.check
    "act.state.ok": "정상",
    "act.state.degraded": "저하",
    "act.state.down": "장애",
    "act.health.summary": "상태: 정상 {ok}, 저하 {degraded}, 장애 {down}",
    "act.health.line": "{component}: {state} — {reason}",
    # token.*
    "act.token.expires": "만료: {date} ({left})",
    "act.token.source": "출처: {source}",
    "act.token.registered": "등록된 만료일: {date} ({actor} 등록)",
    "act.token.expiry_set": "토큰 만료일 등록: {days}일, {date}까지",
    # stats.freshness
    "act.stats.file": "파일: {file}",
    "act.stats.last_updated": "last_updated: {at} ({age}시간 전)",
    "act.stats.updated": "{at}에 갱신",
    # cloudinary.usage
    "act.cloudinary.summary": "Cloudinary {plan} 요금제: 크레딧 {pct}% 사용",
    "act.cloudinary.credits": "크레딧: {limit} 중 {used}",
    "act.cloudinary.no_usage": "Cloudinary {plan} 요금제: 크레딧 수치 없음",
    "act.cloudinary.failed": "Cloudinary 사용량을 읽지 못했습니다: {reason}",
    # instagram.quota
    "act.quota.summary": "게시 한도: {hours}시간에 {used}/{total} ({pct}%)",
    "act.quota.failed": "게시 한도를 읽지 못했습니다: {reason}",
    # telegram.test_message
    "act.telegram.text": "🧪 {ref} 관련 SunFlow Ops 테스트 메시지입니다. 이 메시지가 보이면 알림이 이 채팅방에 도착합니다.",
    "act.telegram.sent": "테스트 메시지 전송됨 (메시지 ID {message_id})",
    "act.telegram.failed": "테스트 메시지를 보내지 못했습니다: {reason}",
    "act.needs.instagram": "Instagram이 설정되지 않았거나 설정이 잘못되었습니다 (sunflow-ops health에서 이유 확인)",
    "act.needs.images": "Cloudinary가 설정되지 않았거나 설정이 잘못되었습니다 (sunflow-ops health에서 이유 확인)",
    "act.needs.chat": "Telegram이 설정되지 않았습니다 (TELEGRAM_BOT_TOKEN 없음)",
    "act.telegram.no_chat": "보낼 운영 채팅방이 없습니다 (OPS_CHAT_ID 없음)",
    # traces.list
    "act.traces.summary": "최근 트레이스 {shown}개, 오류 {errors}개 (트레이스 파일 {imported}개 가져옴)",
    "act.traces.none": "기록된 트레이스가 없습니다 (config/logs/traces에 SF-*.json 없음)",
    "act.traces.unreadable": "{file}: 가져오지 못함 ({problem})",
    "act.traces.caption": "최근 트레이스",
    # logs.*
    "act.logs.refused": "파일 패턴 {pattern} 거부: config/logs 안의 이름만 됩니다 (/ 또는 .. 불가)",
    "act.logs.no_files": "config/logs에 {pattern}에 맞는 로그 파일이 없습니다",
    "act.logs.unreadable": "{file}: 읽을 수 없음 ({problem})",
    "act.logs.tail_summary": "로그 파일 {files}개의 마지막 {lines}줄 ({pattern}): ERROR/CRITICAL {errors}줄",
    "act.logs.tail_caption": "로그 끝부분 ({pattern})",
    "act.logs.latest_errors": "최근 ERROR 줄:",
    "act.logs.last_lines": "{file}의 마지막 줄:",
    "act.logs.no_pattern": "logs.grep에는 찾을 문자열(pattern)이 필요합니다",
    "act.logs.grep_none": "{pattern}에 “{text}”이(가) 들어간 줄이 없습니다",
    "act.logs.grep_summary": "“{text}”: 파일 {files}개에서 {matches}줄 ({pattern})",
    "act.logs.grep_file": "{file}: {count}",
    "act.logs.grep_last": "마지막 {count}줄:",
    "act.logs.grep_caption": "“{text}”이(가) 들어간 줄",
    "act.logs.nothing": "모을 것이 없습니다: config/logs에 *_stderr.log도 SF-*.json도 없습니다",
    "act.logs.collected": "로그 {logs}개의 마지막 {lines}줄과 트레이스 {traces}개를 모았습니다: {filename} ({size})",
    "act.logs.bundle_logs": "error_{day}.log: {files}",
    "act.logs.bundle_traces": "트레이스: {ids}",
    "act.logs.bundle_caption": "로그와 트레이스 ({filename})",
    # images.local
    "act.images.refused": "토픽 “{topic}” 거부: 토픽은 content/images 아래 폴더 이름 하나입니다",
    "act.images.missing": "{path}이(가) 없습니다",
    "act.images.empty": "{path}에 파일이 없습니다",
    "act.images.summary": "{path}: 파일 {count}개, 가장 최근 {newest}",
    "act.images.more": "… 외 {count}개",
}
