// A CommonJS consumer: require() of graft-tune's ES modules (Node >= 22.12; 20.17+ with
// --experimental-require-module).
const { models, torchVersion } = require('graft-tune');
console.log(JSON.stringify({ torch: torchVersion(), models: models.list().length }));
