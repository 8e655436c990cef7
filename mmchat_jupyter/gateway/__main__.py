"""`python -m mmchat_jupyter.gateway`: the same as the `mmchat-gateway` command."""

from .app import main

if __name__ == "__main__":
    main()
