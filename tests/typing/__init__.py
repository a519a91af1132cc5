"""User code that must type-check under ``mypy --strict`` (``user_code``) and code that must not (``user_errors``)."""
