// Starts Swagger UI on #swagger-ui with the spec URL from its data-openapi-url attribute. An external
// file (not an inline script) so /docs runs under the same content security policy as the page.
// validatorUrl: null keeps Swagger UI from loading its validator badge from the internet.
window.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('swagger-ui');
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: '#swagger-ui',
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: 'BaseLayout',
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
  });
});
