"""Builds a post's Instagram caption (the sample pipeline's code: `/rollback` walks its history).

The last commit shortened captions to 300 characters, which cuts the hashtags off long ones.
"""

HASHTAGS = ["#sunflower", "#dailymood"]
MAX_CAPTION = 300


def build_caption(text: str) -> str:
    caption = f"{text}\n\n{' '.join(HASHTAGS)}"
    return caption[:MAX_CAPTION]
