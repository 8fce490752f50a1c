# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The smallest AnsibleModule: the fixed cost every module run pays
(interpreter start-up, importing ansible.module_utils.basic, argument handling,
exit_json). bench/bench.py subtracts it to show the module's own work."""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(image=dict(type="path")), supports_check_mode=True)
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
