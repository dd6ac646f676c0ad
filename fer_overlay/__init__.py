"""FER Overlay: classroom-wide facial-expression indicators from a video-call gallery, on-device."""

__version__ = "0.1.0"
