"""Dataset builds (Posetics, PoseCap) from labelled videos, and exports for other tools."""
