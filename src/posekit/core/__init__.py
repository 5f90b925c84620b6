"""The lowest layer: errors, boxes and stable hashes; imports no other posekit package."""
