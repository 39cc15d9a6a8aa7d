import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register crrg's modules (and mmdet's) into their registries.

    Like :func:`mmdet.utils.register_all_modules`: importing the subpackages runs
    their ``@register_module`` decorators.

    Args:
        init_default_scope (bool): Whether to set the default scope to ``crrg``
            so that components are looked up in crrg's registries first (and
            then in mmdet's and mmengine's). Defaults to True.
    """
    from mmdet.utils import register_all_modules as register_mmdet_modules
    register_mmdet_modules(init_default_scope=False)

    import crrg.datasets  # noqa: F401,F403
    import crrg.engine  # noqa: F401,F403
    import crrg.evaluation  # noqa: F401,F403
    import crrg.models  # noqa: F401,F403
    import crrg.visualization  # noqa: F401,F403

    if init_default_scope:
        never_created = DefaultScope.get_current_instance() is None \
            or not DefaultScope.check_instance_created('crrg')
        if never_created:
            DefaultScope.get_instance('crrg', scope_name='crrg')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'crrg':
            warnings.warn('The current default scope '
                          f'"{current_scope.scope_name}" is not "crrg", '
                          '`register_all_modules` will force the current '
                          'default scope to be "crrg". If this is not '
                          'expected, please set `init_default_scope=False`.')
            # avoid name conflict
            new_instance_name = f'crrg-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='crrg')
