"""UNIK (thesis 3.4): the model (:mod:`posekit.unik.model`) and its thesis architecture (:mod:`.thesis`)."""
