"""Reading and writing: video and image decoding, shard schema, writer and readers, manifest, ShardSink."""
