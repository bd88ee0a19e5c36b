"""CDK app entry point for the CDK CLI: `cdk synth -c infer_config=deploy.json` (infer deploy writes that file)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import aws_cdk as cdk

from infer_cdk.stack import build_app

probe = cdk.App()
config_path = probe.node.try_get_context("infer_config")
if not config_path:
    sys.exit("give the deployment settings: cdk synth -c infer_config=PATH (infer deploy --synth-only writes one)")
config = json.loads(Path(config_path).read_text())
app, _ = build_app(config, probe.outdir)
app.synth()
