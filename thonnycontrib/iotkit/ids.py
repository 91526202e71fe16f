"""The ids Thonny knows the plug-in's views by, in a module that imports nothing.

Thonny's rule: a view's id is its class's name (views.py). The keys are the panels' titles.
`thonnycontrib.iotkit.VIEW_IDS` re-exports this, for tests and other plug-ins.
"""

from __future__ import annotations

VIEW_IDS = {
    "Flash": "IotFlashView",
    "Wiring": "IotWiringView",
    "Deploy": "IotDeployView",
    "Plot": "IotPlotView",
    "Class": "IotClassView",
}
