"""Readers of the skeleton files other datasets ship (pure parsing into :class:`SkeletonClip` records).

NTU RGB+D ``.skeleton`` text (:mod:`.ntu`), pyskl / MMAction2 pickles (:mod:`.pyskl`), ST-GCN's
Kinetics-skeleton JSON (:mod:`.kinetics_skeleton`), Toyota Smarthome pose JSON (:mod:`.smarthome`) and
Penn Action ``.mat`` labels (:mod:`.penn_action`). A file that cannot be read raises
:class:`posekit.core.errors.InputFileError` with one line naming it; the import workflow records it and
goes on.
"""
