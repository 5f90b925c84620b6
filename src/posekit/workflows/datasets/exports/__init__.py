"""``posekit export``: skeleton datasets in the formats other trainers read, one module per format.

- **pyskl / MMAction2** (:func:`.pyskl.export_pyskl`): one pickle ``{"split": {name: [filename, ...]},
  "annotations": [{frame_dir, filename, label, img_shape, original_shape, total_frames, keypoint
  (M, T, V, 2) float32 pixels, keypoint_score (M, T, V) float32, box_score (M, T), valid}, ...],
  "layout": {...}}``, their 2D skeleton annotation format as their Kinetics pickles hold it.
  Persons are the clip's tracks, main persons first (:mod:`posekit.skeleton.persons`); layouts their graphs do
  not know and unlabelled clips are refused unless asked for.
- **NTU-style arrays** (:func:`.ntu.export_ntu`): ``{split}_data.npy`` ``(N, C, T, V, M)`` float32
  (C = x, y[, score]; screen-normalised as in thesis 3.7.1 or pixels; or x, y, z of the 3D joints; one T
  for every split), with ``{split}_label.npy`` (N,) int64, ``{split}_num_frames.npy``,
  ``{split}_clip_ids.txt`` and ``classes.txt``; written through a memory map, so N is not limited by RAM.
  With ``--normalise unik`` the arrays are those of the UNIK authors' ``data_gen``: ``{split}_data_joint.npy``
  after their pre-normalisation (:func:`posekit.skeleton.normalise.unik_normalise`) and ``{split}_label.pkl``,
  the pickled ``(sample names, labels)`` their feeders read.
- **COCO keypoints** (:func:`.coco.export_coco`): ``{split}.json`` with one image per frame
  (``file_name`` ``{clip}/{frame:06d}.jpg`` plus ``clip_id``/``frame_index``, as
  :mod:`posekit.eval.coco` reads it) and one annotation per person and frame (``keypoints``
  ``[x, y, v] * V``, ``num_keypoints``, ``bbox`` xywh, ``area``, ``track_id``, ``score``).
- **COCO results** (:func:`.coco.export_coco_results`): the pycocotools results list
  (``[{image_id, category_id, keypoints, score}, ...]``, ``COCO.loadRes`` reads it) of the
  shards' predictions on the images of a ground-truth file, with that file's image ids.

Missing joints (NaN in the shards) become 0 with score / visibility 0 in every format.
The input is a built dataset folder (splits and classes from ``dataset.json``) or any
skeletons folder (one split named after it; labels from a sidecar or a label column; :mod:`.splits`); the
persons of a clip become arrays in :mod:`.arrays`. The pyskl pickle names the one split of a skeletons folder
:data:`.pyskl.PLAIN_SPLIT` (``all``): a folder name says nothing about train or val, and pyskl configs name the
split they read.
"""
