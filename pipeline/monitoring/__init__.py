"""The loop's eyes: served traffic read back and compared with training.

`prediction_logs` reads the TF Serving PredictionLog records the server
wrote (tolerating a damaged or truncated file), `served_data` turns them
back into the pipeline's raw features, `skew` compares them with what the
served model version was trained on, as ML Metadata records it.
"""
