"""``posekit import``: the skeleton files other datasets ship -> a posekit dataset, one module per format.

Each importer (:mod:`.ntu`, :mod:`.pyskl`, :mod:`.kinetics_skeleton`, :mod:`.smarthome`, :mod:`.penn_action`)
reads the files as the dataset's users have them (parsing in :mod:`posekit.io.formats`), labels every clip and
puts it in the official split of the chosen benchmark; :mod:`.plan` writes the dataset the way
``posekit build-dataset`` does (:func:`posekit.workflows.datasets.build.write.write_split_shards`):
``OUT/<split>/skeletons-*.parquet`` with a ``label`` column, ``dataset.json`` (classes, counts, split
rule, dropped files) and the dataset card. A file that cannot be read is one logged line, recorded in
``dataset.json`` and the card, and the other files are imported. Clips keep the source order (no
shuffling), so an import is reproducible file for file.
"""
