"""Publishing for course pages: WebM and GIF versions, WebVTT captions, a loss plot, the gallery; a lesson's
chapters and captions tracks, transcript and presenter page.

Everything here works on finished clips and traces; nothing here renders a scene.
"""

from .captions import chapters_vtt, script_vtt, vtt_cues, write_vtt
from .gallery import write_gallery
from .lossplot import render_loss_plot
from .presenter import presenter_page
from .transcript import transcript_html, transcript_markdown
from .video import GifTooLarge, make_gif, transcode_webm

__all__ = [
    "GifTooLarge",
    "chapters_vtt",
    "make_gif",
    "presenter_page",
    "render_loss_plot",
    "script_vtt",
    "transcode_webm",
    "transcript_html",
    "transcript_markdown",
    "vtt_cues",
    "write_gallery",
    "write_vtt",
]
