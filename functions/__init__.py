"""The Lambda functions of template.yaml (one folder each) and their shared glue (`lambda_glue`)."""
