"""복구 액션 메시지 (한국어). 키와 {placeholder}는 recovery_en.py와 같습니다.

결과는 일반 텍스트입니다 (렌더러가 이스케이프): HTML 없음.
"""

MESSAGES: dict[str, str] = {
    "rec.trace": "트레이스 {trace}",
    "rec.failed": "{stage} 단계에서 중단: {error} (트레이스 {trace})",
    "rec.refused": "실행하지 않음: {problem}",
    "rec.needs.publisher": "Instagram이 설정되지 않았거나 설정이 잘못되었습니다 (sunflow-ops health로 확인)",
    "rec.needs.uploader": "Cloudinary가 설정되지 않았거나 설정이 잘못되었습니다 (sunflow-ops health로 확인)",
    "rec.needs.generator": "fal.ai가 설정되지 않았거나 설정이 잘못되었습니다 (sunflow-ops health로 확인)",
    "rec.needs.web": "이 환경에서는 웹 주소를 가져올 수 없습니다",
    "rec.needs.content": "파이프라인 콘텐츠 폴더를 사용할 수 없습니다",
    "rec.no_post": "content/images/{topic}/post.toml이 없습니다: {topic}에 무엇을 게시할지 알 수 없습니다",
    "rec.no_prompt": "{topic}의 post.toml에 prompt가 없어 이미지를 다시 만들 수 없습니다",
    "rec.prompt_refused": "fal 콘텐츠 검사가 {topic}의 프롬프트를 거부했습니다. post.toml의 프롬프트를 바꾼 뒤 다시 시도하세요",
    "rec.no_image_in_result": "fal 요청 {request}가 이미지 없이 끝났습니다",
    "rec.images_missing": "아직 없는 이미지: {names} (먼저 재생성하거나 아카이브 이미지를 사용하세요)",
    "rec.quota_full": "게시 한도를 모두 사용했습니다: 24시간 동안 {total}건 중 {used}건",
    "rec.url_unreachable": "Instagram이 다음 이미지를 가져올 수 없습니다: {which}",
    "rec.container_state": "Instagram이 컨테이너 {container} 처리를 마치지 못했습니다: {state} ({status})",
    "rec.published": "{topic} 게시 완료: 미디어 {media}",
    "rec.already_live": "이미 게시되어 있습니다 (미디어 {media}): 다시 보내지 않았습니다",
    "rec.dry_run_ok": "{topic} 테스트 게시: 컨테이너 {container} FINISHED, 실제 게시는 하지 않았습니다",
    "rec.dry_run_lines": "계정 @{account} · 한도 {used}/{total} · 이미지 {images}개 접근 가능",
    "rec.progress.check": "저장된 컨테이너 확인 중",
    "rec.progress.quota": "게시 한도 확인 중",
    "rec.progress.token": "토큰 확인 중",
    "rec.progress.already_live": "이미 게시되었는지 확인 중",
    "rec.progress.generate": "이미지 생성 중 ({n}/{total})",
    "rec.progress.upload": "이미지 업로드 중 ({n}/{total})",
    "rec.progress.reachable": "이미지 URL 확인 중",
    "rec.progress.container": "컨테이너 생성 중",
    "rec.progress.processing": "Instagram 처리 대기 중",
    "rec.progress.publish": "게시 중",
}
