"""Reading synthesised stacks in the deploy tests: every case of a module synthesised and validated once, and
its resources by type."""

from aws_cdk.assertions import Template


def validate_cases(synthesised, validate, cases: dict) -> dict:
    """Every case synthesised, then cfn-lint and checkov run once over all the templates:
    name -> (result, that template's findings)."""
    results = {name: synthesised(**options) for name, (options, _) in cases.items()}
    findings = validate([result.template_path for result in results.values()])
    return {name: (result, findings[str(result.template_path.resolve())]) for name, result in results.items()}


def case(validated: dict, name: str):
    result, _ = validated[name]
    return result, Template.from_json(result.template)


def of_type(result, kind: str) -> dict:
    return {k: r for k, r in result.template["Resources"].items() if r["Type"] == kind}


def only(result, kind: str):
    """The one resource of that type, as (logical id, resource)."""
    (found,) = of_type(result, kind).items()
    return found
