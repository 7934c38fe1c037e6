"""The runtime's one error class. deploy.engine, deploy.first_order, deploy.layout and deploy.kernels need NumPy only
and raise ``DeployError`` for anything a user can fix (a file that is not a runnable deploy file, inputs of the wrong
shape, a kernel that cannot be built or run); the project's commands turn it into their one ``error:`` line."""


class DeployError(Exception):
    """Something the user of a deploy file can fix; ``str(error)`` says what and how."""
