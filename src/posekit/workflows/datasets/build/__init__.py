"""``posekit build-dataset``: Posetics-style (thesis 3.5) and PoseCap-style (thesis 6.3.1) datasets.

Stages, each restartable, one module each:

1. **extract** (:mod:`.sources`; skipped with ``shards=``): the labelled videos are linked under
   ``OUT/extract/videos/<clip_id>`` and :func:`posekit.workflows.extraction.run.run_extraction`
   writes ``OUT/extract/shards/`` (resumable through its manifest), two levels down so that a glob
   ``OUT/*/skeletons-*.parquet`` finds the training shards only. With a
   :class:`~posekit.workflows.extraction.partition.Partition` only that part is extracted, into
   ``OUT/extract/shards/part-IIIII-of-NNNNN/``, and the build stops there: one SLURM array task per
   part, then one assembly run.
2. **assemble** (:mod:`.run`): every annotated clip is matched to its skeletons (:mod:`.sources`:
   extraction manifests, or the clip ids of ``--shards``); clips with at least one pose in fewer than
   ``min_pose_frames`` of their frames are dropped (:mod:`.selection`; thesis 3.5: "at least one human
   pose over 50% of frames"); the label map merges classes; the official split is kept or a stratified
   one made (:mod:`.split`); ``OUT/<split>/skeletons-*.parquet`` are written with ``label`` and
   ``source_label`` columns (PoseCap adds ``text``; 3D travels in the tracks' ``keypoints_3d``), then
   ``dataset.json`` (the commit point), ``README.md`` (:mod:`.card`, with the Hugging Face metadata
   that makes ``datasets.load_dataset(OUT)`` give named splits and ``ClassLabel`` labels) and
   ``histograms.png`` (:mod:`.write`, which ``posekit import`` writes through too).

Assembly never holds the whole dataset: it reads one source shard at a time (twice: once to
decide, once to write) and shuffles clips within a bounded window before writing, so an
output shard mixes classes. The same inputs, options and seed give byte-identical shards.
The options are :class:`.options.BuildOptions`; the entry is :func:`.run.build_dataset`.
"""
