"""Publishing for course pages: WebM and GIF versions, WebVTT captions, a loss plot, the gallery.

Everything here works on finished clips and traces; nothing here renders a scene.
"""

from .captions import vtt_cues, write_vtt
from .gallery import write_gallery
from .lossplot import render_loss_plot
from .video import GifTooLarge, make_gif, transcode_webm

__all__ = ["GifTooLarge", "make_gif", "render_loss_plot", "transcode_webm", "vtt_cues", "write_gallery", "write_vtt"]
