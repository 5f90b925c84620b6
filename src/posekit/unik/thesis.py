"""UNIK's architecture as the thesis gives it (section 3.4), without torch: block widths, strides, dilations."""

THESIS_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
THESIS_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
THESIS_DILATIONS = (1, 3, 3, 3, 3, 1, 1, 1, 1, 1)
