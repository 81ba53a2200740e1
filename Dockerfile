# The component image of the compiled pipeline (Kubeflow Pipelines v2,
# Vertex AI Pipelines): every step of
#   python -m pipeline compile --target kubeflow-v2 --image IMAGE ...
# runs in it. TFX's own image at the TFX version of constraints.txt, with the
# project installed under /opt/complaints (pipeline.kubeflow.IMAGE_PROJECT_DIR:
# the compiled spec reads the curated schema from there, and imports the
# module code -- components.transform.preprocessing_fn, components.model.run_fn,
# ... -- by dotted path).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/consumer-complaints:TAG .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/consumer-complaints:TAG
#
# The entrypoint stays the base image's (Apache Beam's SDK harness boot), so
# the same image is also Dataflow's --sdk_container_image; KFP and Vertex set
# each step's command themselves.
FROM tensorflow/tfx:1.16.0

WORKDIR /opt/complaints

# The project with its exact pins (constraints.txt) and the kubeflow extra
# (KFP's PipelineSpec protos), then a check that the module code imports.
COPY setup.py constraints.txt README.md ./
COPY components/ components/
COPY pipeline/ pipeline/
COPY data/ data/
COPY serving/ serving/
COPY datasets/ datasets/
RUN python -c "import sys; assert sys.version_info[:2] == (3, 10), sys.version" \
 && python -m pip install --no-cache-dir -c constraints.txt -e '.[kubeflow]' \
 && python -c "import components.model, components.transform, components.tuner, components.data_gate, pipeline.pipeline" \
 && test -f pipeline/schema/schema.pbtxt

ENV PYTHONPATH=/opt/complaints
