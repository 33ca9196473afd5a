"""English messages for the recovery actions. Keys and {placeholders} match recovery_ko.py.

Results are plain text (the renderer escapes them): no HTML here.
"""

MESSAGES: dict[str, str] = {
    "rec.trace": "Trace {trace}",
    "rec.failed": "Stopped at {stage}: {error} (trace {trace})",
    "rec.refused": "Not done: {problem}",
    "rec.needs.publisher": "Instagram is not configured or its settings are wrong (sunflow-ops health says why)",
    "rec.needs.uploader": "Cloudinary is not configured or its settings are wrong (sunflow-ops health says why)",
    "rec.needs.generator": "fal.ai is not configured or its settings are wrong (sunflow-ops health says why)",
    "rec.needs.web": "The bot cannot fetch web addresses here",
    "rec.needs.content": "The pipeline's content folder is not available",
    "rec.no_post": "content/images/{topic}/post.toml is missing: the bot does not know what to post for {topic}",
    "rec.no_prompt": "post.toml of {topic} has no prompt, so the image cannot be made again",
    "rec.prompt_refused": "fal's content checker refused the prompt of {topic}; change the prompt in post.toml before trying again",
    "rec.no_image_in_result": "fal finished request {request} without an image",
    "rec.images_missing": "Images not there yet: {names} (regenerate them or use an archive image first)",
    "rec.quota_full": "The publishing quota is used up: {used} of {total} posts in 24 h",
    "rec.url_unreachable": "Instagram could not fetch these images: {which}",
    "rec.container_state": "Instagram did not finish container {container}: {state} ({status})",
    "rec.published": "Published {topic}: media {media}",
    "rec.already_live": "Already live (media {media}): nothing was sent again",
    "rec.dry_run_ok": "Dry run of {topic}: container {container} is FINISHED; nothing was published",
    "rec.dry_run_lines": "Account @{account} · quota {used}/{total} · {images:#image|images} reachable",
    "rec.progress.check": "looking at the saved container",
    "rec.progress.quota": "reading the publishing quota",
    "rec.progress.token": "checking the token",
    "rec.progress.already_live": "checking it is not live already",
    "rec.progress.generate": "generating image {n} of {total}",
    "rec.progress.upload": "uploading image {n} of {total}",
    "rec.progress.reachable": "checking the image URLs",
    "rec.progress.container": "creating the container",
    "rec.progress.processing": "waiting for Instagram to process it",
    "rec.progress.publish": "publishing",
}
